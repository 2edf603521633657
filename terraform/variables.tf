# Inputs. Only project_id is required; everything else has a working default.
# Resource names that the code uses (topics, subscriptions, collections, prefixes, env var names)
# are NOT variables: they come from zygarde/resources.json (see locals.tf).

variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region for the functions, Dataproc batches, the bucket, Cloud Run and Scheduler."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of every name terraform chooses (bucket, service accounts, functions, network)."
  type        = string
  default     = "zygarde"

  validation {
    # Service account ids are 6-30 characters: the longest suffix used is "-functions" (10).
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3-20 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "bucket_name" {
  description = "Name of the Zygarde bucket. Empty: \"<name_prefix>-<project_id>\"."
  type        = string
  default     = ""
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the bucket even if it still holds objects."
  type        = bool
  default     = false
}

variable "scratch_retention_days" {
  description = "Age in days after which scratch objects (job files, trial result files) are deleted."
  type        = number
  default     = 7
}

variable "upload_cors_origins" {
  description = "Origins allowed to PUT to the bucket with a signed upload URL (the web app's)."
  type        = list(string)
  default     = ["*"]
}

variable "firestore_location" {
  description = "Firestore location (e.g. nam5, eur3 or a region). Empty: the region."
  type        = string
  default     = ""
}

variable "firestore_deletion_policy" {
  description = "ABANDON keeps the Firestore database on destroy; DELETE deletes it with all job history."
  type        = string
  default     = "ABANDON"

  validation {
    condition     = contains(["ABANDON", "DELETE"], var.firestore_deletion_policy)
    error_message = "firestore_deletion_policy must be ABANDON or DELETE."
  }
}

variable "code_version" {
  description = "Version of the Spark code under gs://BUCKET/code/VERSION/ (Cloud Build passes $SHORT_SHA)."
  type        = string
  default     = "dev"
}

variable "max_concurrent_batches" {
  description = "Capacity cap: Dataproc batches Zygarde runs at once across all jobs. Keep it under your Dataproc quota (docs/deploy.md)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_concurrent_batches >= 1 && var.max_concurrent_batches <= 200
    error_message = "max_concurrent_batches must be between 1 and 200."
  }
}

variable "dataproc_runtime_version" {
  description = "Dataproc Serverless runtime version for the trial batches (3.0: Spark 4.0, Java 21, Python 3.12; docs/deploy.md)."
  type        = string
  default     = "3.0"
}

variable "batch_image" {
  description = "Container image of the batches (container/Dockerfile). Empty: batch:CODE_VERSION in the containers repository, as cloudbuild.yaml pushes it."
  type        = string
  default     = ""
}

variable "batch_ttl" {
  description = "The longest a batch stage may run: the ceiling of the per-stage time limits and of every batch's Dataproc ttl (seconds, e.g. \"14400s\")."
  type        = string
  default     = "14400s"

  validation {
    # Dataproc accepts 10 minutes to 14 days.
    condition     = can(regex("^[0-9]+s$", var.batch_ttl)) && tonumber(trimsuffix(var.batch_ttl, "s")) >= 600 && tonumber(trimsuffix(var.batch_ttl, "s")) <= 1209600
    error_message = "batch_ttl must look like \"14400s\" and lie between 600s and 1209600s."
  }
}

variable "dataproc_subnet_cidr" {
  description = "IP range of the subnet the Dataproc batches run in (Private Google Access on)."
  type        = string
  default     = "10.128.64.0/20"
}

variable "function_max_instances" {
  description = "Upper bound on instances of each Cloud Function."
  type        = number
  default     = 10
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the dead-letter topic (5-100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "reconcile_schedule" {
  description = "Cron schedule of the reconciler tick published to the reconcile topic."
  type        = string
  default     = "*/2 * * * *"
}

variable "web_image" {
  description = "Container image of the web app (built from web/). Empty: no web app is deployed."
  type        = string
  default     = ""
}

variable "web_admins" {
  description = "E-mails of the web app's admins: they see every user's jobs, datasets and models."
  type        = list(string)
  default     = []
}

variable "price_per_dcu_hour" {
  description = "USD per DCU-hour the web app prices jobs at (Dataproc Serverless standard tier)."
  type        = number
  default     = 0.06
}

variable "web_max_upload_bytes" {
  description = "Largest dataset the web app takes through itself (bigger ones go straight to the bucket)."
  type        = number
  default     = 33554432
}

variable "web_users" {
  description = "IAM members allowed through IAP to the web app, e.g. [\"group:ml-team@example.com\"]."
  type        = list(string)
  default     = []
}

variable "predict_invokers" {
  description = "Identities allowed to call the predict service (IAM members; allUsers/allAuthenticatedUsers refused)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.predict_invokers : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "The predict service is not public: name users, groups or service accounts."
  }
}

variable "predict_min_instances" {
  description = "Predict instances kept warm (0: scale to zero, cold starts load the model again). 1 keeps one instance, billed while idle, so that no request waits for a cold start."
  type        = number
  default     = 0

  validation {
    condition     = var.predict_min_instances >= 0 && var.predict_min_instances == floor(var.predict_min_instances)
    error_message = "predict_min_instances is a whole number, 0 or more."
  }
}

variable "predict_warm_models" {
  description = "Model versions each predict instance loads as it starts, before its first request asks (\"name@alias\", \"name@3\", \"name\" for the latest), e.g. [\"churn@production\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.predict_warm_models : can(regex("^[a-z][a-z0-9_-]{0,62}(@[a-z0-9_-]+)?$", m))])
    error_message = "predict_warm_models entries are a model name, optionally @ a version or alias: churn@production."
  }
}


variable "batch_startup_seconds" {
  description = "A Dataproc Serverless batch's fixed cost before it fits anything (creation, JVM, session, data read): trial packs are sized so that each batch's work is a multiple of it."
  type        = number
  default     = 60

  validation {
    condition     = var.batch_startup_seconds > 0 && var.batch_startup_seconds <= 3600
    error_message = "batch_startup_seconds must lie between 0 (excluded) and 3600."
  }
}

variable "pack_concurrency" {
  description = "Trials a pack batch fits at once (the default batch has 12 cores; about 4 per fit)."
  type        = number
  default     = 3

  validation {
    condition     = var.pack_concurrency >= 1 && var.pack_concurrency <= 64
    error_message = "pack_concurrency must lie between 1 and 64."
  }
}

variable "handoff_seconds" {
  description = "How long a batch whose work is done waits for more of its job's work (the next pack, the finalisation) before it exits: far less than a new batch's start-up, billed only while it waits. 0 turns warm handoffs off."
  type        = number
  default     = 20

  validation {
    condition     = var.handoff_seconds >= 0 && var.handoff_seconds <= 600
    error_message = "handoff_seconds must lie between 0 and 600."
  }
}

variable "cli_users" {
  description = "E-mails of the people (or service accounts) who use Zygarde from the command line or gcloud: each may publish to zygarde-jobs, where their identity token says who they are, and write only under jobs/{key}/ and datasets/{key}/ of the bucket, {key} being their e-mail's owner key."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.cli_users : can(regex("^[A-Za-z0-9][A-Za-z0-9._@+'-]*@[A-Za-z0-9.-]+$", e))])
    error_message = "cli_users: plain e-mail addresses (letters, digits and . _ @ + - ')."
  }
}

variable "token_certs_url" {
  description = "Where the public keys of the accepted identity tokens are (ZYGARDE_TOKEN_CERTS_URL)."
  type        = string
  default     = "https://www.googleapis.com/oauth2/v1/certs"
}

variable "token_issuers" {
  description = "Accepted issuers of identity tokens (ZYGARDE_TOKEN_ISSUERS)."
  type        = list(string)
  default     = ["https://accounts.google.com", "accounts.google.com"]
}

variable "token_audiences" {
  description = "Accepted token audiences (ZYGARDE_TOKEN_AUDIENCES). Empty: gcloud's and ADC's OAuth clients and //pubsub.googleapis.com/projects/PROJECT/topics/zygarde-jobs (docs/deploy.md)."
  type        = list(string)
  default     = []
}

variable "trusted_delegates" {
  description = "Service accounts, besides the web app's, that may act on behalf of a user they name (ZYGARDE_TRUSTED_DELEGATES)."
  type        = list(string)
  default     = []
}
