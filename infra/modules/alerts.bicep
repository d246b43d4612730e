metadata name = 'keyturn alerts'
metadata description = 'The on-call action group, and log alerts on keyturn\'s telemetry: a rotation failed for good, and the sweep has not completed on schedule. (Event Grid delivery failures and dead letters are alerted per vault in vault-events.bicep.)'

@description('Required. Name of the action group.')
@minLength(1)
@maxLength(260)
param actionGroupName string

@description('Required. E-mail address of the on-call team that receives every alert.')
@minLength(3)
param onCallEmail string

@description('Required. Name of keyturn\'s Application Insights component (in this resource group): the alerts query its traces.')
param appInsightsName string

@description('Optional. Location of the log alert rules. Default: the resource group location.')
param location string = resourceGroup().location

@description('Optional. Hours after which a sweep that has not completed is overdue (the schedule\'s period plus slack; the default schedule is daily).')
@minValue(1)
@maxValue(47)
param sweepOverdueHours int = 26

@description('Optional. Tags for every resource.')
param tags object = {}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'keyturn'
    enabled: true
    emailReceivers: [
      {
        name: 'on-call'
        emailAddress: onCallEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// The engine's log messages for a failure an owner must act on (core/engine.ts; the
// transient one, "rotation failed with a transient error", is retried by its trigger and
// left out). test/infra/alerts.test.ts checks the engine still logs them.
var rotationFailedQuery = 'traces | where message has "rotation failed" or message has "rotation not possible" or message has "could not give the provider its previous credential back" | where message !has "transient error"'

resource rotationFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'keyturn-rotation-failed-${appInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'keyturn: a rotation failed'
    description: 'A secret could not be rotated and will not be retried by itself (keyturn.RotationFailed). The owner was notified; see docs/runbook.md, "A rotation failed".'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: rotationFailedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// One row (alert) when the last "sweep completed" is older than sweepOverdueHours, or absent.
var sweepOverdueQuery = 'traces | where message has "sweep completed" | summarize last = max(timestamp) | where isnull(last) or last < ago(${sweepOverdueHours}h)'

resource sweepOverdueAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'keyturn-sweep-overdue-${appInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'keyturn: the sweep has not completed on schedule'
    description: 'No sweep has completed for ${sweepOverdueHours} hours: secrets that no event announced are not being rotated, and journals left behind are not finished. See docs/runbook.md.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: sweepOverdueQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

@description('Resource ID of the on-call action group (the per-vault delivery alerts use it too).')
output actionGroupId string = actionGroup.id
