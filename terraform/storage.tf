# The Zygarde bucket: datasets, job files, deployed code, models and trial result files.
resource "google_storage_bucket" "main" {
  name                        = local.bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.bucket_force_destroy
  labels                      = local.labels

  # Scratch data is deleted daily anyway: keeping soft-deleted copies would only add cost.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # Scratch: trial result files and dropped job files have been read into Firestore long before this.
  lifecycle_rule {
    condition {
      age            = var.scratch_retention_days
      matches_prefix = [local.r.bucket_prefixes.results, local.r.bucket_prefixes.job_files]
    }
    action {
      type = "Delete"
    }
  }

  # Uploads that a browser abandoned half way.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # Browsers PUT datasets with signed URLs minted by the web app.
  cors {
    origin          = var.upload_cors_origins
    method          = ["PUT"]
    response_header = ["Content-Type"]
    max_age_seconds = 3600
  }

  depends_on = [google_project_service.api]
}

# Cloud Storage publishes the notifications with its own service agent.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.api]
}

resource "google_pubsub_topic_iam_member" "gcs_publishes_notifications" {
  for_each = toset([for n in local.bucket_notifications : n.topic])

  topic  = google_pubsub_topic.topic[each.value].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# Every object of the bucket -> the bucket events topic; filtered subscriptions (pubsub.tf) route
# results/... to on_trial_result and jobs/... to submit_job.
# JSON_API_V1: the message carries the object's metadata; the handler reads the object itself.
resource "google_storage_notification" "bucket" {
  for_each = local.bucket_notifications

  bucket         = google_storage_bucket.main.name
  topic          = google_pubsub_topic.topic[each.value.topic].id
  event_types    = [each.value.event]
  payload_format = "JSON_API_V1"

  depends_on = [google_pubsub_topic_iam_member.gcs_publishes_notifications]
}
