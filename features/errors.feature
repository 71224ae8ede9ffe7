Feature: Errors and bad input
  An unknown or out-of-state command gets one error line (or nothing, in a dialect that
  ignores errors); the state does not change and the connection stays usable. An oversized
  line gets an error and the connection is closed (just closed, in a dialect that ignores
  errors). Nothing a client sends harms the server or its other clients.

  Every scenario here runs under both error policies: where the dialect ignores bad commands,
  "receives an error" means that nothing at all arrives for a bound, and the steps after it
  check that the state is unchanged and the connection still usable. A server that drops the
  connection instead fails.

  Background:
    Given a server
    And client A is connected

  @S-ERR
  Scenario Outline: <command> outside notification mode is refused, and nothing changes
    When client A sends "<command>"
    Then client A receives an error
    And client A is still usable
    When client A sends "_notif_"
    Then client A receives "will send notifs"

    Examples:
      | command    |
      | stop_notif |
      | OK         |
      | hello?     |

  @S-ERR
  Scenario Outline: <command> in notification mode is refused, and the mode goes on
    Given client A has read everything
    And client A is in notification mode
    When client A sends "<command>"
    Then client A receives an error
    When client A sends "stop_notif"
    Then client A receives "OK"
    And client A is still usable

    Examples:
      | command     |
      | random?     |
      | classified? |
      | _notif_     |
      | hello?      |

  @S-ERR @S-NOTIF-WINDOW @answers-required @control
  Scenario Outline: <command> with a notification outstanding is refused, and the notification stays outstanding
    Given client A has read everything
    And client A is in notification mode
    When an ad "Outstanding flat" is published
    Then within 1 s client A receives "notif: classified"
    When client A sends "<command>"
    Then client A receives an error
    When a random number is published
    Then client A receives nothing for 100 ms
    When client A sends "OK"
    Then within 1 s client A receives "notif: random"
    When client A sends "stop_notif"
    Then client A receives "OK"
    And client A is still usable

    Examples:
      | command     |
      | random?     |
      | classified? |
      | _notif_     |
      | hello?      |

  @S-ERR
  Scenario Outline: <command> after the stop's OK is refused, and requests work
    Given client A has read everything
    And client A is in notification mode
    When client A sends "stop_notif"
    Then client A receives "OK"
    When client A sends "<command>"
    Then client A receives an error
    And client A is still usable

    Examples:
      | command    |
      | stop_notif |
      | OK         |
      | hello?     |

  @S-ROBUST @errors-reply
  Scenario: an oversized line is refused with an error, then the connection is closed
    When client A sends a line longer than the limit
    Then client A receives an error
    And the server closes the connection of client A

  @S-ROBUST @errors-ignore
  Scenario: in a dialect that ignores errors, an oversized line closes the connection
    When client A sends a line longer than the limit
    Then the server closes the connection of client A

  @S-ROBUST
  Scenario: an oversized line does not harm other clients
    Given client B is connected
    When client A sends a line longer than the limit
    Then the server has dealt with the line of client A
    And client B is still usable
    And client C is connected
    And client C is still usable

  @S-ROBUST @S-ERR
  Scenario: a line that is not UTF-8 is refused, and other clients are unharmed
    Given client B is connected
    When client A sends a line that is not UTF-8
    Then client A receives an error
    And client A is still usable
    And client B is still usable

  @S-ROBUST
  Scenario: a client that disconnects in the middle of a line harms no one
    Given client B is connected
    When client A disconnects in the middle of a line
    Then client B is still usable
