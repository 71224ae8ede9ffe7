@client
Feature: Client conformance
  Here notifspec plays a conforming server and the client under test connects to it (the
  reference client, or the command given with --client-cmd). The client is expected to do
  what a notif client does: make its requests, enter notification mode and answer each
  notification, with OK to stay or stop_notif to leave. Every line it sends is judged.

  Background:
    Given the client under test is connected

  @C-ONE-AT-A-TIME @C-FRAMING @C-STOP-ONLY-IN-NOTIF
  Scenario: the client makes its requests one at a time, then enters the mode
    When the server serves the client until it enters notification mode
    Then the server plays along for 100 ms

  @C-ACK @C-ACK-ONLY-NOTIF @C-NO-REQ-IN-NOTIF @answers-required
  Scenario: the client answers a random notification exactly once
    When the server serves the client until it enters notification mode
    And the server sends "notif: random"
    Then within 1 s the client answers the notification
    And the server plays along for 100 ms

  @C-ACK @C-ACK-ONLY-NOTIF @C-STOP-ONLY-IN-NOTIF @answers-required
  Scenario: the client answers a classified notification exactly once
    When the server serves the client until it enters notification mode
    And the server sends "notif: classified"
    Then within 1 s the client answers the notification
    And the server plays along for 100 ms

  @C-NO-ACK-AFTER-STOP @answers-required
  Scenario: a notification that crosses stop_notif is not answered
    When the server serves the client until it enters notification mode
    And the server sends "notif: classified"
    Then within 1 s the client answers the notification
    When a notification crosses the client's stop_notif
    Then the server plays along for 100 ms
