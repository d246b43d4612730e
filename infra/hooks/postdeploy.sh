#!/bin/sh
# azd postdeploy hook: create the Event Grid subscriptions once the function code exists.
#
# Event Grid validates an Azure Function endpoint when a subscription is created, so the
# first `azd provision` (before any code is deployed) runs with subscribeToVaultEvents=false.
# After the first deploy this hook turns it on and provisions again; from then on every
# provision keeps the subscriptions (KEYTURN_SUBSCRIBE_EVENTS stays true in the azd env).
set -eu

if [ "${KEYTURN_SUBSCRIBE_EVENTS:-false}" = "true" ]; then
  echo "keyturn: Event Grid subscriptions are managed by provision (KEYTURN_SUBSCRIBE_EVENTS=true)."
  exit 0
fi

azd env set KEYTURN_SUBSCRIBE_EVENTS true

# The function's Event Grid trigger can take a little while to appear after a deploy;
# Event Grid refuses the subscription until it does.
attempt=1
until azd provision --no-prompt; do
  if [ "$attempt" -ge 5 ]; then
    echo "keyturn: could not create the Event Grid subscriptions after $attempt attempts." >&2
    echo "keyturn: run 'azd provision' again once the keyVaultEvents function is listed on the app." >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  echo "keyturn: provision failed, retrying in 30 s (attempt $attempt of 5)."
  sleep 30
done
