Feature: The stop_notif race
  A notification the server sent before it read stop_notif may reach the client after the
  client sent stop_notif and before the OK. If stop_notif answered an outstanding
  notification, no notification can follow it; if it was sent with nothing outstanding, at
  most one may cross it. After the OK, nothing.

  Background:
    Given a server
    And client A is connected
    And client A has read everything
    And client A is in notification mode

  @S-STOP-OK @S-NO-NOTIF-AFTER-OK @S-NOTIF-WINDOW @answers-required @control
  Scenario: a stop that answers a notification is followed by OK and nothing else
    When an ad "Race flat" is published
    Then within 1 s client A receives "notif: classified"
    When a random number is published
    And client A sends "stop_notif"
    Then client A receives "OK"
    And client A receives nothing for 100 ms

  @S-STOP-OK @S-NO-NOTIF-AFTER-OK @answers-required @control
  Scenario: at most one notification crosses a stop sent with nothing outstanding
    When a random number is published
    And client A sends "stop_notif"
    Then client A receives "OK", possibly after one notification
    And client A receives nothing for 100 ms

  @S-STOP-OK
  Scenario: a stop with nothing published is answered by OK alone
    When client A sends "stop_notif"
    Then client A receives "OK"
    And client A receives nothing for 100 ms
