# Topics, their dead-letter topics and the push subscriptions that drive the three functions.
#
# Why push subscriptions rather than the functions' own Eventarc triggers: an Eventarc Pub/Sub
# trigger is a push subscription that Eventarc creates with a generated name, and Terraform cannot
# put a dead-letter policy on it. Owning the subscription gives it the name from resources.json, a
# dead-letter topic and a retry policy; it pushes to the function's run.app URL with an OIDC token,
# and the Functions Framework turns the Pub/Sub push body into the same CloudEvent
# (google.cloud.pubsub.topic.v1.messagePublished) that an Eventarc trigger would deliver.

resource "google_pubsub_topic" "topic" {
  for_each = local.r.topics

  name   = each.value
  labels = local.labels

  depends_on = [google_project_service.api]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = local.r.topics

  name   = "${each.value}${local.r.dead_letter_suffix}"
  labels = local.labels

  depends_on = [google_project_service.api]
}

# A pull subscription on every dead-letter topic keeps the dead letters (a topic alone drops
# messages nobody subscribes to) so that they can be inspected and replayed.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = local.r.topics

  name                       = "${each.value}${local.r.dead_letter_suffix}-hold"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  labels                     = local.labels

  expiration_policy {
    ttl = ""
  }
}

# One push subscription per function (resources.json "functions": topic and subscription keys).
resource "google_pubsub_subscription" "function" {
  for_each = local.r.functions

  name  = local.r.subscriptions[each.value.subscription]
  topic = google_pubsub_topic.topic[each.value.topic].id
  # Bucket events: only the objects this function handles (results/ for on_trial_result).
  filter = lookup(local.function_filters, each.key, null)
  # A push delivery must be answered within this; the functions time out before it.
  ack_deadline_seconds = 600
  # Ticks of the reconciler (and its job-ended events) are worthless after a few minutes; work messages
  # are kept a week.
  message_retention_duration = each.value.topic == "reconcile" ? "600s" : "604800s"
  labels                     = local.labels

  push_config {
    # The path makes the Functions Framework fill in the CloudEvent source with the topic.
    push_endpoint = "${google_cloudfunctions2_function.fn[each.key].service_config[0].uri}/projects/${var.project_id}/topics/${local.r.topics[each.value.topic]}"

    oidc_token {
      service_account_email = google_service_account.pusher.email
      audience              = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    }
  }

  # A failing handler (5xx: a TransientError re-raised) is retried with backoff ...
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # ... and after max_delivery_attempts the message is parked on the topic's dead-letter topic.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_dead_letters,
    google_service_account_iam_member.pubsub_agent_mints_push_tokens,
  ]
}

# Bucket routes (resources.json "bucket_routes"): more objects of the bucket notification for a
# function, e.g. job files under jobs/ for submit_job, with the same push, retry and dead letters.
resource "google_pubsub_subscription" "bucket_route" {
  for_each = local.r.bucket_routes

  name                       = local.r.subscriptions[each.value.subscription]
  topic                      = google_pubsub_topic.topic[local.bucket_notification_topic].id
  filter                     = "hasPrefix(attributes.objectId, \"${local.r.bucket_prefixes[each.value.object_prefix_key]}\")"
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"
  labels                     = local.labels

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.fn[each.value.function].service_config[0].uri}/projects/${var.project_id}/topics/${local.r.topics[local.bucket_notification_topic]}"

    oidc_token {
      service_account_email = google_service_account.pusher.email
      audience              = google_cloudfunctions2_function.fn[each.value.function].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[local.bucket_notification_topic].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_dead_letters,
    google_service_account_iam_member.pubsub_agent_mints_push_tokens,
  ]
}

locals {
  pubsub_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the dead-letter topics
# and subscribe to (acknowledge on) the source subscriptions.
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letters" {
  for_each = local.r.topics

  topic  = google_pubsub_topic.dead_letter[each.key].id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_forwards" {
  for_each = local.r.functions

  subscription = google_pubsub_subscription.function[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_forwards_routes" {
  for_each = local.r.bucket_routes

  subscription = google_pubsub_subscription.bucket_route[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
