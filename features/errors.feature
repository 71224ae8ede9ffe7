Feature: Errors and bad input
  An unknown or out-of-state command gets one error line (or nothing, in a dialect that
  ignores errors); the state does not change and the connection stays usable. An oversized
  line gets an error and the connection is closed. Nothing a client sends harms the server
  or its other clients.

  Background:
    Given a server
    And client A is connected

  @S-ERR @errors-reply
  Scenario: an unknown command gets an error and the connection stays usable
    When client A sends "hello?"
    Then client A receives an error
    And client A is still usable

  @S-ERR @errors-reply
  Scenario: stop_notif outside notification mode is an error
    When client A sends "stop_notif"
    Then client A receives an error
    And client A is still usable

  @S-ERR @errors-reply
  Scenario: OK outside notification mode is an error
    When client A sends "OK"
    Then client A receives an error
    And client A is still usable

  @S-ERR @errors-reply
  Scenario: entering the mode twice is an error, and the mode goes on
    Given client A has read everything
    And client A is in notification mode
    When client A sends "_notif_"
    Then client A receives an error
    When client A sends "stop_notif"
    Then client A receives "OK"

  @S-ROBUST @errors-reply
  Scenario: an oversized line is refused with an error, then the connection is closed
    When client A sends a line longer than the limit
    Then client A receives an error
    And the server closes the connection of client A

  @S-ROBUST
  Scenario: an oversized line does not harm other clients
    Given client B is connected
    When client A sends a line longer than the limit
    Then client B is still usable

  @S-ROBUST @S-ERR @errors-reply
  Scenario: a line that is not UTF-8 is refused, and other clients are unharmed
    Given client B is connected
    When client A sends a line that is not UTF-8
    Then client A receives an error
    And client B is still usable

  @S-ROBUST
  Scenario: a client that disconnects in the middle of a line harms no one
    Given client B is connected
    When client A disconnects in the middle of a line
    Then client B is still usable
