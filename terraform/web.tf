# The web app on Cloud Run, behind Identity-Aware Proxy enabled on the service itself (no load
# balancer). Deployed only when web_image is set. IAP on Cloud Run needs the project to belong to
# an organization; users of that organization listed in web_users get through.

resource "google_cloud_run_v2_service" "web" {
  count    = var.web_image == "" ? 0 : 1
  provider = google-beta

  name                = "${var.name_prefix}-web"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  launch_stage        = "BETA"
  iap_enabled         = true
  deletion_protection = false
  labels              = local.labels

  template {
    service_account = google_service_account.web.email

    scaling {
      min_instance_count = 0
      max_instance_count = 4
    }

    containers {
      image = var.web_image

      dynamic "env" {
        for_each = local.web_env
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  depends_on = [google_project_service.api]
}

# IAP forwards the users it let in with its own service agent: that agent alone may invoke.
resource "google_cloud_run_v2_service_iam_member" "iap_invokes_web" {
  count = var.web_image == "" ? 0 : 1

  name     = google_cloud_run_v2_service.web[0].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_project_service_identity.iap.email}"
}

# Who may use the web app.
resource "google_iap_web_cloud_run_service_iam_member" "web_users" {
  for_each = var.web_image == "" ? toset([]) : toset(var.web_users)

  cloud_run_service_name = google_cloud_run_v2_service.web[0].name
  location               = var.region
  role                   = "roles/iap.httpsResourceAccessor"
  member                 = each.value
}
