# APIs Zygarde needs. disable_on_destroy = false: turning an API off on destroy would break anything
# else in the project that uses it; docs/deploy.md says how to switch them off by hand.
locals {
  apis = toset([
    "artifactregistry.googleapis.com",     # images of the functions' builds
    "cloudbuild.googleapis.com",           # builds the functions
    "cloudfunctions.googleapis.com",       # the three handlers
    "cloudresourcemanager.googleapis.com", # project IAM bindings
    "cloudscheduler.googleapis.com",       # reconciler tick
    "compute.googleapis.com",              # Dataproc network and subnet
    "dataproc.googleapis.com",             # Serverless batches
    "firestore.googleapis.com",            # job and trial state
    "iam.googleapis.com",                  # service accounts, custom role
    "iamcredentials.googleapis.com",       # signBlob for signed upload URLs, OIDC tokens for push
    "iap.googleapis.com",                  # Identity-Aware Proxy in front of the web app
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",           # 2nd gen functions and the web app
    "secretmanager.googleapis.com", # the web app's session key
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "api" {
  for_each = local.apis

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Service agents that must exist before IAM bindings can name them.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta
  project  = var.project_id
  service  = "pubsub.googleapis.com"

  depends_on = [google_project_service.api]
}

resource "google_project_service_identity" "iap" {
  provider = google-beta
  project  = var.project_id
  service  = "iap.googleapis.com"

  depends_on = [google_project_service.api]
}

data "google_project" "this" {
  project_id = var.project_id
}
