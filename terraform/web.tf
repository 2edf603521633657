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

      # The key that signs sessions and CSRF tokens: the same on every instance, kept in Secret Manager.
      env {
        name = local.r.web_env.secret_key
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.web_session_key[0].secret_id
            version = "latest"
          }
        }
      }
    }
  }

  depends_on = [google_project_service.api, google_secret_manager_secret_iam_member.web_reads_session_key]
}

resource "google_secret_manager_secret" "web_session_key" {
  count     = var.web_image == "" ? 0 : 1
  secret_id = "${var.name_prefix}-web-session-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

# Set once by hand (never in terraform state):
#   openssl rand -hex 32 | gcloud secrets versions add zygarde-web-session-key --data-file=-
resource "google_secret_manager_secret_iam_member" "web_reads_session_key" {
  count     = var.web_image == "" ? 0 : 1
  secret_id = google_secret_manager_secret.web_session_key[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.web_member
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
