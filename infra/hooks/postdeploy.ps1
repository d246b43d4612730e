# azd postdeploy hook (Windows): create the Event Grid subscriptions once the function code
# exists. See postdeploy.sh for why this is a second provision.
$ErrorActionPreference = 'Stop'

if ($env:KEYTURN_SUBSCRIBE_EVENTS -eq 'true') {
  Write-Host 'keyturn: Event Grid subscriptions are managed by provision (KEYTURN_SUBSCRIBE_EVENTS=true).'
  exit 0
}

azd env set KEYTURN_SUBSCRIBE_EVENTS true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

for ($attempt = 1; $attempt -le 5; $attempt++) {
  azd provision --no-prompt
  if ($LASTEXITCODE -eq 0) { exit 0 }
  if ($attempt -lt 5) {
    Write-Host "keyturn: provision failed, retrying in 30 s (attempt $($attempt + 1) of 5)."
    Start-Sleep -Seconds 30
  }
}
Write-Error "keyturn: could not create the Event Grid subscriptions; run 'azd provision' again once the keyVaultEvents function is listed on the app."
exit 1
