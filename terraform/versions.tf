# Provider versions are pinned exactly so that every `terraform init` (a laptop or Cloud Build)
# resolves the same schema. Bump them deliberately, together, and re-run `terraform plan`.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.50.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "6.50.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "2.7.1"
    }
  }

  # State lives in a bucket created once by hand (see docs/deploy.md); give it at init time:
  #   terraform init -backend-config="bucket=MY_STATE_BUCKET" -backend-config="prefix=zygarde"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}

# google-beta is needed for IAP directly on Cloud Run (iap_enabled) and for service identities.
provider "google-beta" {
  project = var.project_id
  region  = var.region
}
