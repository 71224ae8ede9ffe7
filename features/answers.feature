Feature: Answering notifications and the one-outstanding window
  In notification mode the server announces each available item with "notif: random" or
  "notif: classified". Where the dialect requires answers, the client answers each
  notification with exactly one line, OK or stop_notif, and the server never has more than
  one notification unanswered.

  Background:
    Given a server
    And client A is connected
    And client A has read everything
    And client A is in notification mode

  @S-NOTIF-KIND @S-LIVENESS @control
  Scenario: a published ad is announced to a client in the mode
    When an ad "Sunny flat" is published
    Then within 1 s client A receives "notif: classified"

  @S-NOTIF-KIND @S-LIVENESS @control
  Scenario: a published random number is announced to a client in the mode
    When a random number is published
    Then within 1 s client A receives "notif: random"

  @S-NOTIF-WINDOW @answers-required @control
  Scenario: no second notification before the first is answered
    When an ad "First flat" is published
    Then within 1 s client A receives "notif: classified"
    When a random number is published
    Then client A receives nothing for 100 ms
    When client A sends "OK"
    Then within 1 s client A receives "notif: random"

  @S-NOTIF-WINDOW @S-LIVENESS @answers-required @control
  Scenario: an item published while one is outstanding is announced after the answer
    When a random number is published
    And an ad "Second flat" is published
    Then within 1 s client A receives a notification
    And client A receives nothing for 100 ms
    When client A sends "OK"
    Then within 1 s client A receives a notification

  @S-LIVENESS @S-NO-DUP @answers-required @control
  Scenario: ads that pile up behind the window are announced after the answer
    When an ad "Pile flat 1" is published
    Then within 1 s client A receives "notif: classified"
    When an ad "Pile flat 2" is published
    And an ad "Pile flat 3" is published
    Then client A receives nothing for 100 ms
    When client A sends "OK"
    Then within 1 s client A receives "notif: classified"
    When client A sends "OK"
    Then client A answers every notification for 1500 ms
    When client A sends "stop_notif"
    Then client A receives "OK"
    And client A receives nothing for 100 ms

  @S-ERR @answers-required
  Scenario: OK with no notification outstanding is an error, and the mode goes on
    When client A sends "OK"
    Then client A receives an error
    When client A sends "stop_notif"
    Then client A receives "OK"

  @S-ERR
  Scenario: a request in notification mode is an error, and the mode goes on
    When client A sends "random?"
    Then client A receives an error
    When client A sends "stop_notif"
    Then client A receives "OK"
