# Every name the code uses comes from the one definition the code reads too.
# tests/unit/test_terraform.py resolves each `local.r...` reference below against that file.
locals {
  r = jsondecode(file("${path.module}/../zygarde/resources.json"))

  bucket_name        = var.bucket_name != "" ? var.bucket_name : "${var.name_prefix}-${var.project_id}"
  firestore_location = var.firestore_location != "" ? var.firestore_location : var.region

  # Environment of the three functions: one entry per resources.json "env" key that applies in the
  # cloud. The keys are the env var names from resources.json; config.Settings.from_env reads them.
  function_env = {
    (local.r.env.project)                  = var.project_id
    (local.r.env.region)                   = var.region
    (local.r.env.bucket)                   = google_storage_bucket.main.name
    (local.r.env.code_version)             = var.code_version
    (local.r.env.max_concurrent_batches)   = tostring(var.max_concurrent_batches)
    (local.r.env.spark_service_account)    = google_service_account.spark.email
    (local.r.env.dataproc_runtime_version) = var.dataproc_runtime_version
    (local.r.env.dataproc_subnet)          = google_compute_subnetwork.dataproc.self_link
    (local.r.env.batch_ttl)                = var.batch_ttl
  }

  # resources.json "env" keys that are deliberately not set in the cloud:
  # dataproc_endpoint points the code at the local Dataproc stand-in, never at Google.
  # predict_url tells the CLI where the predict service is (terraform outputs it).
  local_only_env = ["dataproc_endpoint", "predict_url"]

  # The predict function needs only where the registry and the packages are.
  predict_env = {
    (local.r.env.project) = var.project_id
    (local.r.env.region)  = var.region
    (local.r.env.bucket)  = google_storage_bucket.main.name
  }

  # The web app needs to know where things are, not how batches run.
  web_env = {
    (local.r.env.project) = var.project_id
    (local.r.env.region)  = var.region
    (local.r.env.bucket)  = google_storage_bucket.main.name
  }

  # Per-function runtime settings (keys are resources.json "functions" keys).
  function_settings = {
    submit_job      = { memory = "1Gi", timeout_seconds = 540 }
    on_trial_result = { memory = "512Mi", timeout_seconds = 540 }
    on_cluster_idle = { memory = "512Mi", timeout_seconds = 300 }
  }

  # Bucket notifications: those resources.json declares, plus job files dropped under jobs/, which
  # go to the jobs topic as JSON_API_V1 notifications (submit_job reads the object they name).
  bucket_notifications = merge(
    { for n in local.r.bucket_notifications : n.prefix_key => n },
    { job_files = { prefix_key = "job_files", topic = "jobs", event = "OBJECT_FINALIZE" } },
  )

  labels = {
    app = "zygarde"
  }
}
