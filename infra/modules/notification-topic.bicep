metadata name = 'keyturn notification topic'
metadata description = 'Event Grid custom topic keyturn publishes rotation outcomes to (CloudEvents 1.0, Entra ID only). Owners subscribe to it; no event carries a secret value.'

@description('Required. Name of the topic.')
@minLength(3)
@maxLength(50)
param name string

@description('Optional. Location. Default: the resource group location.')
param location string = resourceGroup().location

@description('Optional. Tags.')
param tags object = {}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    // No access keys: publishing needs an Entra token with EventGrid Data Sender.
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

@description('Resource ID of the topic.')
output resourceId string = topic.id

@description('Name of the topic.')
output name string = topic.name

@description('Publishing endpoint of the topic (KEYTURN_NOTIFY_TOPIC_ENDPOINT).')
output endpoint string = topic.properties.endpoint
