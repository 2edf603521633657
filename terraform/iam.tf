# One service account per role, each with only what that role does.

resource "google_service_account" "functions" {
  account_id   = "${var.name_prefix}-functions"
  display_name = "Zygarde control plane (submit_job, on_trial_result, on_reconcile_tick)"

  depends_on = [google_project_service.api]
}

resource "google_service_account" "spark" {
  account_id   = "${var.name_prefix}-spark"
  display_name = "Zygarde Spark trial batches (Dataproc Serverless)"

  depends_on = [google_project_service.api]
}

resource "google_service_account" "web" {
  account_id   = "${var.name_prefix}-web"
  display_name = "Zygarde web app (Cloud Run)"

  depends_on = [google_project_service.api]
}

resource "google_service_account" "pusher" {
  account_id   = "${var.name_prefix}-pusher"
  display_name = "Zygarde Pub/Sub push identity (invokes the functions)"

  depends_on = [google_project_service.api]
}

resource "google_service_account" "builder" {
  account_id   = "${var.name_prefix}-builder"
  display_name = "Zygarde Cloud Functions build"

  depends_on = [google_project_service.api]
}

locals {
  functions_member = "serviceAccount:${google_service_account.functions.email}"
  spark_member     = "serviceAccount:${google_service_account.spark.email}"
  web_member       = "serviceAccount:${google_service_account.web.email}"
}

# ---------------------------------------------------------------- functions (control plane)

# Reads and writes jobs, trials, slots and models in Firestore (transactions included).
resource "google_project_iam_member" "functions_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.functions_member
}

# Launches, watches and cancels trial batches, and nothing else in Dataproc (no clusters).
resource "google_project_iam_custom_role" "batch_runner" {
  role_id     = "${replace(var.name_prefix, "-", "_")}_batch_runner"
  title       = "Zygarde batch runner"
  description = "Create, inspect, cancel and delete Dataproc Serverless batches."
  permissions = [
    "dataproc.batches.cancel",
    "dataproc.batches.create",
    "dataproc.batches.delete",
    "dataproc.batches.get",
    "dataproc.batches.list",
    "dataproc.operations.get",
    "dataproc.operations.list",
  ]
}

resource "google_project_iam_member" "functions_batches" {
  project = var.project_id
  role    = google_project_iam_custom_role.batch_runner.id
  member  = local.functions_member
}

# Creating a batch that runs as the Spark account requires actAs on that account, only that one.
resource "google_service_account_iam_member" "functions_act_as_spark" {
  service_account_id = google_service_account.spark.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.functions_member
}

# Publishes follow-up events (new jobs, reconciler kicks) on Zygarde's own topics only.
resource "google_pubsub_topic_iam_member" "functions_publish" {
  for_each = local.r.topics

  topic  = google_pubsub_topic.topic[each.key].id
  role   = "roles/pubsub.publisher"
  member = local.functions_member
}

# Reads job files and trial results, writes trial requests and job reports: this bucket only.
resource "google_storage_bucket_iam_member" "functions_objects" {
  bucket = google_storage_bucket.main.name
  role   = "roles/storage.objectUser"
  member = local.functions_member
}

# ---------------------------------------------------------------- Spark batches

# What every Dataproc Serverless workload identity needs (agent heartbeats, staging, logging).
resource "google_project_iam_member" "spark_worker" {
  project = var.project_id
  role    = "roles/dataproc.worker"
  member  = local.spark_member
}

# Reads datasets and code, writes models and result files: this bucket only. Grant
# roles/storage.objectViewer on any other bucket that holds datasets (docs/deploy.md).
resource "google_storage_bucket_iam_member" "spark_objects" {
  bucket = google_storage_bucket.main.name
  role   = "roles/storage.objectUser"
  member = local.spark_member
}

# ---------------------------------------------------------------- web app

# Submits jobs: publish on the jobs topic only.
resource "google_pubsub_topic_iam_member" "web_publish_jobs" {
  topic  = google_pubsub_topic.topic["jobs"].id
  role   = "roles/pubsub.publisher"
  member = local.web_member
}

# Shows jobs, trials and models: read-only Firestore.
resource "google_project_iam_member" "web_firestore" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = local.web_member
}

# Reads model packages (the model page's manifests, the package download): objects under models/ only.
# A listing's resource is the bucket, not an object: the download's listing is allowed by its prefix.
resource "google_storage_bucket_iam_member" "web_reads_models" {
  bucket = google_storage_bucket.main.name
  role   = "roles/storage.objectViewer"
  member = local.web_member

  condition {
    title      = "models-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.main.name}/objects/${local.r.bucket_prefixes.models}\") || api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${local.r.bucket_prefixes.models}\")"
  }
}

# Calls the predict service for the model page's "Try a prediction" form, with its own identity token.
resource "google_cloud_run_v2_service_iam_member" "web_invokes_predict" {
  name     = google_cloudfunctions2_function.predict["predict"].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = local.web_member
}

# The datasets page: lists the signed-in user's folder (with sizes), reads a dataset's head for its
# columns, uploads, and replaces an upload of the same name (an overwrite needs delete), directly or
# through a V4 signed URL, which carries the signer's permission. Objects under datasets/ only.
resource "google_storage_bucket_iam_member" "web_datasets" {
  bucket = google_storage_bucket.main.name
  role   = "roles/storage.objectUser"
  member = local.web_member

  condition {
    title      = "datasets-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.main.name}/objects/${local.r.bucket_prefixes.datasets}\") || api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${local.r.bucket_prefixes.datasets}\")"
  }
}

# ... and, having no key, signs through the IAM signBlob API as itself.
resource "google_service_account_iam_member" "web_signs_as_itself" {
  service_account_id = google_service_account.web.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.web_member
}

# ---------------------------------------------------------------- Pub/Sub push identity

# The Pub/Sub service agent mints the OIDC tokens of the push subscriptions as the pusher account.
resource "google_service_account_iam_member" "pubsub_agent_mints_push_tokens" {
  service_account_id = google_service_account.pusher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# The pusher may invoke the three functions' services and nothing else.
resource "google_cloud_run_v2_service_iam_member" "pusher_invokes" {
  for_each = local.r.functions

  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.pusher.email}"
}

# ---------------------------------------------------------------- functions build

# Cloud Build builds the functions' images as this account: the predefined builder role (write
# the image, read the source object, write build logs) instead of the project's default account.
resource "google_project_iam_member" "builder" {
  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${google_service_account.builder.email}"
}

# ---------------------------------------------------------------- command-line users (var.cli_users)

# Publish jobs and cancels; who they are comes from the identity token each message carries.
resource "google_pubsub_topic_iam_member" "cli_users_publish_jobs" {
  for_each = local.cli_user_members

  topic  = google_pubsub_topic.topic["jobs"].id
  role   = "roles/pubsub.publisher"
  member = each.value
}

# Write (and read back, and list: `zygarde submit` checks a folder or glob dataset) objects only under
# their own folders: a job file's owner is its folder jobs/{key}/, and their jobs read datasets only from
# datasets/{key}/. A listing's resource is the bucket: it is allowed by its prefix.
resource "google_storage_bucket_iam_member" "cli_users_own_folders" {
  for_each = {
    for pair in setproduct(var.cli_users, ["job_files", "datasets"]) : "${pair[0]} ${pair[1]}" => {
      member = local.cli_user_members[pair[0]]
      prefix = "${local.r.bucket_prefixes[pair[1]]}${local.cli_user_keys[pair[0]]}/"
    }
  }

  bucket = google_storage_bucket.main.name
  role   = "roles/storage.objectUser"
  member = each.value.member

  condition {
    title      = "own-folder"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.main.name}/objects/${each.value.prefix}\") || api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${each.value.prefix}\")"
  }
}
