# The three control-plane functions (2nd gen, Python 3.11), one source archive for all of them.
#
# Archive layout (what the Python 3.11 runtime expects: main.py at the root):
#   main.py, ... <- functions/*  (also kept under functions/ so `import functions.x` works too)
#   zygarde/...  <- the core package (resources.json included)
#   requirements.txt <- functions/requirements.txt if there is one, else functions-requirements.txt here
locals {
  repo_root = "${path.module}/.."

  functions_files = fileset("${local.repo_root}/functions", "**/*.{py,json}")
  zygarde_files   = fileset("${local.repo_root}/zygarde", "**/*.{py,json}")

  requirements_file = fileexists("${local.repo_root}/functions/requirements.txt") ? "${local.repo_root}/functions/requirements.txt" : "${path.module}/functions-requirements.txt"

  # archive path => file on disk
  function_source = merge(
    { for f in local.functions_files : f => "${local.repo_root}/functions/${f}" },
    { for f in local.functions_files : "functions/${f}" => "${local.repo_root}/functions/${f}" },
    { for f in local.zygarde_files : "zygarde/${f}" => "${local.repo_root}/zygarde/${f}" },
    { "requirements.txt" = local.requirements_file },
  )

  # Named by a hash of the contents (not of the zip bytes, which carry timestamps): any code or
  # requirement change gives a new object name, so the functions are rebuilt and redeployed.
  function_source_hash = sha256(join("\n", [
    for path in sort(keys(local.function_source)) : "${path} ${filesha256(local.function_source[path])}"
  ]))
  function_source_object = "${local.r.bucket_prefixes.code}functions/${local.function_source_hash}.zip"
}

data "archive_file" "functions" {
  type        = "zip"
  output_path = "${path.module}/.build/functions-${local.function_source_hash}.zip"

  dynamic "source" {
    for_each = local.function_source
    content {
      filename = source.key
      content  = file(source.value)
    }
  }
}

resource "google_storage_bucket_object" "functions_source" {
  bucket = google_storage_bucket.main.name
  name   = local.function_source_object
  source = data.archive_file.functions.output_path
}

resource "google_cloudfunctions2_function" "fn" {
  for_each = local.r.functions

  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  location    = var.region
  description = "Zygarde ${each.key}: Pub/Sub ${local.r.topics[each.value.topic]} via ${local.r.subscriptions[each.value.subscription]}"
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
    available_memory               = lookup(local.function_settings, each.key, { memory = "512Mi" }).memory
    timeout_seconds                = lookup(local.function_settings, each.key, { timeout_seconds = 540 }).timeout_seconds
    min_instance_count             = 0
    max_instance_count             = var.function_max_instances
    service_account_email          = google_service_account.functions.email
    environment_variables          = local.function_env
    all_traffic_on_latest_revision = true
    # Reached only by Pub/Sub push (which counts as internal traffic) with an OIDC token.
    ingress_settings = "ALLOW_INTERNAL_ONLY"
  }

  depends_on = [
    google_project_iam_member.builder,
    google_project_iam_member.functions_firestore,
    google_project_iam_member.functions_batches,
  ]
}
