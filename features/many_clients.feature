Feature: Many clients at once
  Every connection has its own state: its own mode, its own unread items and its own
  outstanding notification. Clients do not wait for each other.

  Background:
    Given a server

  @S-REPLY-ONE @S-RANDOM-INT @S-ROBUST
  Scenario: twenty clients asking at once each get their answer
    When 20 other clients each send "random?"
    Then each of them receives an integer

  @S-LIVENESS @control
  Scenario: every client in the mode is notified
    Given client A is connected
    And client B is connected
    And client A has read everything
    And client B has read everything
    And client A is in notification mode
    And client B is in notification mode
    When an ad "Shared flat" is published
    Then within 1 s client A receives "notif: classified"
    And within 1 s client B receives "notif: classified"

  @S-NOTIF-IN-MODE @control
  Scenario: only clients in the mode are notified
    Given client A is connected
    And client B is connected
    And client A has read everything
    And client B has read everything
    And client A is in notification mode
    When an ad "Selective flat" is published
    Then within 1 s client A receives "notif: classified"
    And client B receives nothing for 100 ms

  @S-NOTIF-WINDOW @answers-required @control
  Scenario: one client's unanswered notification does not hold back another's
    Given client A is connected
    And client B is connected
    And client A has read everything
    And client B has read everything
    And client A is in notification mode
    And client B is in notification mode
    When an ad "Busy flat" is published
    Then within 1 s client A receives "notif: classified"
    And within 1 s client B receives "notif: classified"
    When client B sends "OK"
    And a random number is published
    Then within 1 s client B receives "notif: random"
    And client A receives nothing for 100 ms
