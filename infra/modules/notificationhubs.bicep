// A Notification Hubs namespace and hub for APNs and FCM direct sends.
// Register the APNs (token-based, VoIP topic) and FCM v1 credentials on the
// hub after deployment (docs/deploy.md).
param namespaceName string
param hubName string
param location string
@description('Free allows 1 million pushes and 500 devices a month; Basic or Standard for production.')
@allowed(['Free', 'Basic', 'Standard'])
param sku string = 'Free'

resource namespace 'Microsoft.NotificationHubs/namespaces@2023-09-01' = {
  name: namespaceName
  location: location
  sku: { name: sku }
  properties: {
    namespaceType: 'NotificationHub'
  }
}

resource hub 'Microsoft.NotificationHubs/namespaces/notificationHubs@2023-09-01' = {
  parent: namespace
  name: hubName
  location: location
  properties: {}
}

// Send-only rule for the app: direct send needs no more.
resource sendRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-09-01' = {
  parent: hub
  name: 'SwitchboardSend'
  properties: {
    rights: [ 'Send' ]
  }
}

output hubName string = hub.name
#disable-next-line outputs-should-not-contain-secrets
output connectionString string = sendRule.listKeys().primaryConnectionString
