# The batches' container image (container/Dockerfile): Python and the packages the Spark batches
# import, on the Dataproc Serverless runtime var.dataproc_runtime_version. cloudbuild.yaml builds it
# and pushes it to this repository as batch:SHORT_SHA; every batch runs in it
# (ZYGARDE_BATCH_CONTAINER_IMAGE -> RuntimeConfig.container_image).

resource "google_artifact_registry_repository" "containers" {
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-containers"
  format        = "DOCKER"
  description   = "Zygarde's Dataproc batch images"
  labels        = local.labels

  depends_on = [google_project_service.api]
}

# Batches pull their image as the Spark service account.
resource "google_artifact_registry_repository_iam_member" "spark_pulls_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.containers.location
  repository = google_artifact_registry_repository.containers.name
  role       = "roles/artifactregistry.reader"
  member     = local.spark_member
}

locals {
  # var.batch_image, or the image cloudbuild.yaml pushes for this code version.
  batch_image = var.batch_image != "" ? var.batch_image : "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.containers.repository_id}/batch:${var.code_version}"
}
