# The online prediction service: an HTTP Cloud Function (2nd gen) scoring registered models'
# ONNX exports with onnxruntime, from the same source archive as the control plane.
# Callers need roles/run.invoker on it (var.predict_invokers): there is no public (allUsers) access.

resource "google_service_account" "predict" {
  account_id   = "${var.name_prefix}-predict"
  display_name = "Zygarde online prediction (reads models/ and Firestore only)"

  depends_on = [google_project_service.api]
}

locals {
  predict_member = "serviceAccount:${google_service_account.predict.email}"
}

# Reads the model registry and aliases: read-only Firestore.
resource "google_project_iam_member" "predict_firestore" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = local.predict_member
}

# Reads model packages (manifest.json, model.onnx): objects under models/ only.
resource "google_storage_bucket_iam_member" "predict_models" {
  bucket = google_storage_bucket.main.name
  role   = "roles/storage.objectViewer"
  member = local.predict_member

  condition {
    title      = "models-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.main.name}/objects/${local.r.bucket_prefixes.models}\")"
  }
}

resource "google_cloudfunctions2_function" "predict" {
  for_each = local.r.http_functions

  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  location    = var.region
  description = "Zygarde ${each.key}: HTTP, POST /v1/models/{name}/versions/{version|alias}:predict"
  labels      = local.labels

  build_config {
    runtime         = "python311"
    entry_point     = each.value.entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.main.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    available_memory               = "1Gi"
    timeout_seconds                = 60
    min_instance_count             = var.predict_min_instances
    max_instance_count             = var.function_max_instances
    service_account_email          = google_service_account.predict.email
    environment_variables          = local.predict_env
    all_traffic_on_latest_revision = true
    ingress_settings               = "ALLOW_ALL" # reachable, but only by identities granted run.invoker
  }

  depends_on = [
    google_project_iam_member.builder,
    google_project_iam_member.predict_firestore,
    google_storage_bucket_iam_member.predict_models,
  ]
}

# Invoker rights, per identity (e.g. "serviceAccount:app@...", "group:scorers@..."); never allUsers.
resource "google_cloud_run_v2_service_iam_member" "predict_invokers" {
  for_each = toset(var.predict_invokers)

  name     = google_cloudfunctions2_function.predict["predict"].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = each.value
}

output "predict_url" {
  description = "The online prediction service (set ZYGARDE_PREDICT_URL to it for `zygarde predict`)."
  value       = { for k, f in google_cloudfunctions2_function.predict : k => f.service_config[0].uri }
}
