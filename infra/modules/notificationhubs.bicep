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

// Send-only rule for the app: direct send needs no more. Its connection
// string is read with listKeys() where the app setting is built
// (functionapp.bicep), never output: outputs are kept in plain text in the
// deployment history.
resource sendRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-09-01' = {
  parent: hub
  name: 'SwitchboardSend'
  properties: {
    rights: [ 'Send' ]
  }
}

output namespaceName string = namespace.name
output hubName string = hub.name
output sendRuleName string = sendRule.name
