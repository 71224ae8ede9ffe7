Feature: Entering and leaving notification mode
  The enter command ("_notif_" in the seed-session dialect, "notif" in seed-text) puts the
  connection in notification mode and is acknowledged before any notification. The mode
  lasts until the client sends "stop_notif", which is answered by one OK; after that OK no
  notification comes until the mode is entered again.

  Background:
    Given a server
    And client A is connected
    And client A has read everything

  @S-MODE-ACK
  Scenario: the enter command is acknowledged, spelled exactly
    When client A sends "_notif_"
    Then client A receives "will send notifs"
    And client A receives nothing for 100 ms

  @S-STOP-OK
  Scenario: stop_notif is answered by one OK, and requests work again
    Given client A is in notification mode
    When client A sends "stop_notif"
    Then client A receives "OK"
    And client A receives nothing for 100 ms
    When client A sends "random?"
    Then client A receives an integer

  @S-MODE-ACK @S-NOTIF-IN-MODE @control
  Scenario: an item waiting at entry is announced right after the acknowledgement
    When an ad "Flat waiting for you" is published
    And client A sends "_notif_"
    Then client A receives "will send notifs"
    And within 1 s client A receives "notif: classified"

  @S-NOTIF-IN-MODE @control
  Scenario: nothing is announced outside the mode
    When an ad "Quiet flat" is published
    And a random number is published
    Then client A receives nothing for 100 ms

  @S-NO-NOTIF-AFTER-OK @control
  Scenario: after the stop's OK nothing is announced until the mode is entered again
    Given client A is in notification mode
    When client A sends "stop_notif"
    Then client A receives "OK"
    When an ad "Late flat" is published
    Then client A receives nothing for 100 ms
    When client A sends "_notif_"
    Then client A receives "will send notifs"
    And within 1 s client A receives "notif: classified"

  @S-ERR @S-NO-NOTIF-AFTER-OK @control
  Scenario: the enter command sent twice, then a stop: after the OK nothing is announced
    Given client A is in notification mode
    When client A sends "_notif_"
    Then client A receives an error
    When client A sends "stop_notif"
    Then client A receives "OK"
    When an ad "Flat after a double enter" is published
    And a random number is published
    Then client A receives nothing for 200 ms
    And client A is still usable

  @S-ERR @S-STOP-OK
  Scenario: the enter command sent twice, then a stop: one OK, and requests work again
    Given client A is in notification mode
    When client A sends "_notif_"
    Then client A receives an error
    When client A sends "stop_notif"
    Then client A receives "OK"
    And client A receives nothing for 100 ms
    And client A is still usable

  @S-MODE-ACK
  Scenario: in the seed-session dialect, _notif_ is acknowledged by "will send notifs"
    Given a server in dialect "seed-session"
    When client A sends "_notif_"
    Then client A receives "will send notifs"

  @S-MODE-ACK
  Scenario: in the seed-text dialect, notif is acknowledged by "notif: OK"
    Given a server in dialect "seed-text"
    When client A sends "notif"
    Then client A receives "notif: OK"
