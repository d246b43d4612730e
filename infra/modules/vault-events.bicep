metadata name = 'keyturn Key Vault events'
metadata description = 'For one vault: its Event Grid system topic and one subscription that delivers the near-expiry and expired events keyturn handles to the function\'s Event Grid trigger, with retries and dead-lettering to blob storage through a managed identity. Deployed in the vault\'s resource group.'

@description('Required. Name of the vault (in this resource group).')
param vaultName string

@description('Required. Name of the vault\'s system topic (created, or updated in place if it exists).')
@minLength(3)
@maxLength(128)
param systemTopicName string

@description('Optional. Tags for the system topic.')
param tags object = {}

@description('Required. Event types the subscription delivers: the list keyturn handles (core/events.ts HandledEventTypes).')
@minLength(1)
param includedEventTypes string[]

@description('Required. Deploy the subscription. False on the very first provision, before the function code exists: Event Grid validates an Azure Function endpoint when the subscription is created.')
param deploySubscription bool

@description('Required. Resource ID of the function that receives the events: <function app ID>/functions/<name>.')
param functionResourceId string

@description('Required. Resource ID of the user-assigned identity the system topic writes dead letters with.')
param deadLetterIdentityResourceId string

@description('Required. Resource ID of the storage account that receives dead letters.')
param deadLetterStorageAccountResourceId string

@description('Required. Blob container that receives dead letters.')
param deadLetterContainerName string

@description('Required. Resource ID of the on-call action group that dead-letter and delivery-failure alerts go to.')
param actionGroupId string

@description('Optional. Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Optional. Minutes an undelivered event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  // A Key Vault system topic lives in the vault's region.
  location: vault.location
  tags: tags
  // A user-assigned identity that holds one role only (Storage Blob Data Contributor on the
  // dead-letter container). Not keyturn's own identity: Event Grid never acts as keyturn.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${deadLetterIdentityResourceId}': {}
    }
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deploySubscription) {
  parent: systemTopic
  name: 'keyturn'
  properties: {
    // Delivered to the function's Event Grid trigger. Event Grid fetches the extension's
    // system key itself; delivery with a managed identity is not offered for this endpoint
    // type, dead-lettering is.
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: includedEventTypes
    }
    // The function rethrows only transient failures, so a retry here is worth making.
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: deadLetterIdentityResourceId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountResourceId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}


// Alerts on the system topic's delivery metrics: an event dead-lettered is a near-expiry
// notice keyturn never saw; failed deliveries mean the function is refusing or down.
var deliveryAlerts = [
  {
    name: 'dead-lettered'
    metricName: 'DeadLetteredCount'
    severity: 1
    description: 'A Key Vault event for ${vaultName} was dead-lettered: keyturn never handled it. Read the dead-letter container and rotate by hand (docs/runbook.md).'
  }
  {
    name: 'delivery-failed'
    metricName: 'DeliveryAttemptFailCount'
    severity: 2
    description: 'Event Grid could not deliver Key Vault events for ${vaultName} to keyturn (it retries, then dead-letters).'
  }
]

resource deliveryAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for a in deliveryAlerts: {
    name: take('keyturn-${a.name}-${systemTopicName}', 260)
    location: 'global'
    tags: tags
    properties: {
      description: a.description
      severity: a.severity
      enabled: true
      scopes: [
        systemTopic.id
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: a.name
            metricNamespace: 'Microsoft.EventGrid/systemTopics'
            metricName: a.metricName
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Total'
          }
        ]
      }
      autoMitigate: true
      actions: [
        {
          actionGroupId: actionGroupId
        }
      ]
    }
  }
]

@description('Resource ID of the system topic.')
output systemTopicResourceId string = systemTopic.id

@description('Name of the system topic.')
output systemTopicName string = systemTopic.name
