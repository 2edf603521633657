# The reconciler's heartbeat: every 2 minutes a tick on the reconcile topic makes on_reconcile_tick
# look for finished, stuck or orphaned batches, deadlines, and work to place.
# Cloud Scheduler publishes with its own service agent, which may publish in its project.
resource "google_cloud_scheduler_job" "reconcile_tick" {
  name        = "${var.name_prefix}-reconcile-tick"
  region      = var.region
  description = "Zygarde reconciler tick -> ${local.r.topics.reconcile}"
  schedule    = var.reconcile_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.topic["reconcile"].id
    data       = base64encode(jsonencode({ reason = "tick", source = "cloud-scheduler" }))
    attributes = {
      source = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.api]
}
