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
    (local.r.env.batch_container_image)    = local.batch_image
    (local.r.env.batch_startup_seconds)    = tostring(var.batch_startup_seconds)
    (local.r.env.pack_concurrency)         = tostring(var.pack_concurrency)
    (local.r.env.handoff_seconds)          = tostring(var.handoff_seconds)
    (local.r.env.token_certs_url)          = var.token_certs_url
    (local.r.env.token_issuers)            = join(",", var.token_issuers)
    (local.r.env.token_audiences)          = join(",", var.token_audiences)
    (local.r.env.trusted_delegates)        = local.trusted_delegates
  }

  # Identity tokens (docs/deploy.md, "Threat model"): the web app's account publishes and calls the
  # predict service on behalf of the user IAP verified, so the functions let it name that user.
  trusted_delegates = join(",", concat([google_service_account.web.email], var.trusted_delegates))

  # Who may use Zygarde from the command line, each with the owner key of their e-mail: the e-mail
  # lowercased (zygarde/domain/identity.py; the one character Google allows in an address beyond
  # a-z 0-9 . _ @ + - is the apostrophe, which the key writes ~27).
  cli_user_keys = { for e in var.cli_users : e => replace(lower(e), "'", "~27") }
  cli_user_members = {
    for e in var.cli_users : e => "${endswith(lower(e), ".gserviceaccount.com") ? "serviceAccount" : "user"}:${e}"
  }

  # resources.json "env" keys that are deliberately not set in the cloud:
  # dataproc_endpoint points the code at the local Dataproc stand-in, never at Google.
  # predict_url tells the CLI where the predict service is (terraform outputs it); of the cloud's
  # components only the web app calls it (web_env below).
  # identity_token, local_token_url and local_identity are how a client gets its token: locally from
  # the local cloud's issuer; in the cloud from the metadata server or the user's gcloud.
  local_only_env = ["dataproc_endpoint", "predict_url", "identity_token", "local_token_url", "local_identity"]

  # resources.json "env" keys of the predict function alone: predict_warm names the model versions it
  # loads as it starts (var.predict_warm_models).
  predict_only_env = ["predict_warm"]

  # The predict function needs where the registry and the packages are, how to verify its callers,
  # and who the administrators are (they may score every model; everyone else only what they may read).
  predict_env = {
    (local.r.env.project)           = var.project_id
    (local.r.env.region)            = var.region
    (local.r.env.bucket)            = google_storage_bucket.main.name
    (local.r.env.token_certs_url)   = var.token_certs_url
    (local.r.env.token_issuers)     = join(",", var.token_issuers)
    (local.r.env.token_audiences)   = join(",", var.token_audiences)
    (local.r.env.trusted_delegates) = local.trusted_delegates
    (local.r.web_env.admins)        = join(",", var.web_admins)
    (local.r.env.predict_warm)      = join(",", var.predict_warm_models)
  }

  # The web app needs to know where things are, not how batches run; who signs in comes from IAP's
  # signed header, checked against the audience of the Cloud Run service with IAP enabled on it.
  web_env = {
    (local.r.env.project)                = var.project_id
    (local.r.env.region)                 = var.region
    (local.r.env.bucket)                 = google_storage_bucket.main.name
    (local.r.web_env.iap_audience)       = "/projects/${data.google_project.this.number}/locations/${var.region}/services/${var.name_prefix}-web"
    (local.r.web_env.admins)             = join(",", var.web_admins)
    (local.r.web_env.price_per_dcu_hour) = tostring(var.price_per_dcu_hour)
    (local.r.web_env.max_upload_bytes)   = tostring(var.web_max_upload_bytes)
    # The model page's "Try a prediction" form calls the predict service (as an invoker: iam.tf).
    (local.r.env.predict_url) = google_cloudfunctions2_function.predict["predict"].service_config[0].uri
  }

  # Per-function runtime settings (keys are resources.json "functions" keys).
  function_settings = {
    submit_job        = { memory = "1Gi", timeout_seconds = 540 }
    on_trial_result   = { memory = "512Mi", timeout_seconds = 540 }
    on_reconcile_tick = { memory = "512Mi", timeout_seconds = 300 }
  }

  # The bucket notification of resources.json: every object of the bucket, on one topic. Filtered
  # subscriptions route it (results/ to on_trial_result, job files under jobs/ to submit_job), the
  # same wiring as on the local cloud, whose fake-gcs-server publishes one notification only.
  bucket_notifications = { for n in local.r.bucket_notifications : n.topic => n }

  # Subscription filters on the object name (config.object_filter writes the same expression).
  function_filters = {
    for k, fn in local.r.functions : k => "hasPrefix(attributes.objectId, \"${local.r.bucket_prefixes[fn.object_prefix_key]}\")"
    if contains(keys(fn), "object_prefix_key")
  }
  bucket_notification_topic = local.r.bucket_notifications[0].topic

  labels = {
    app = "zygarde"
  }
}
