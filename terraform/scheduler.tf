# The reconciler's heartbeat: every 2 minutes a tick on the cluster-idle topic makes
# on_cluster_idle look for finished, stuck or orphaned batches and for waiting trials to launch.
# Cloud Scheduler publishes with its own service agent, which may publish in its project.
resource "google_cloud_scheduler_job" "reconcile_tick" {
  name        = "${var.name_prefix}-reconcile-tick"
  region      = var.region
  description = "Zygarde reconciler tick -> ${local.r.topics.cluster_idle}"
  schedule    = var.reconcile_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.topic["cluster_idle"].id
    data       = base64encode(jsonencode({ reason = "tick", source = "cloud-scheduler" }))
    attributes = {
      source = "cloud-scheduler"
    }
  }

  depends_on = [google_project_service.api]
}
