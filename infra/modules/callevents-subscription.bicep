// Delivers ACS call events to the `callevents` function. Deployed after the
// code (azure.yaml postdeploy hook): Event Grid checks that the function
// exists. The Azure Function destination type makes Event Grid call the host
// with its Event Grid system key, so no key is copied anywhere.
param systemTopicName string
param functionAppName string
param storageAccountName string
param deadLetterContainer string = 'eventgrid-deadletter'

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource callevents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'callevents'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${app.id}/functions/callevents'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Communication.IncomingCall'
        'Microsoft.Communication.CallStarted'
        'Microsoft.Communication.CallEnded'
        'Microsoft.Communication.CallParticipantAdded'
        'Microsoft.Communication.CallParticipantRemoved'
        'Microsoft.Communication.ChatMessageReceived'
        // SMS guests: delivery reports of invitations, and guests' replies (STOP, START, text).
        'Microsoft.Communication.SMSDeliveryReportReceived'
        'Microsoft.Communication.SMSReceived'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    // An incoming call is worth little after a minute, but roster events stay
    // useful for the hour; what is left is dead-lettered for inspection.
    retryPolicy: {
      maxDeliveryAttempts: 10
      eventTimeToLiveInMinutes: 60
    }
    deadLetterWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: account.id
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}
