Feature: Availability: announce once, announce again on re-entry, keep the promise
  An item is available to a client while it is unread (an ad) or newer than the last one the
  client fetched (a random number). Each available item is announced at most once per
  notification session; one still unread when the client enters the mode again is announced
  again at once. After "notif: classified", the next "classified?" returns an ad.

  Background:
    Given a server
    And client A is connected
    And client A has read everything
    And client A is in notification mode

  @S-NO-DUP @answers-required @control
  Scenario: an item is announced once per session
    When an ad "Once flat" is published
    Then within 1 s client A receives "notif: classified"
    When client A sends "OK"
    Then client A receives nothing for 100 ms

  @S-NO-DUP @control
  Scenario: an unread item is announced again after re-entering the mode
    When an ad "Again flat" is published
    Then within 1 s client A receives "notif: classified"
    When client A sends "stop_notif"
    Then client A receives "OK"
    When client A sends "_notif_"
    Then client A receives "will send notifs"
    And within 1 s client A receives "notif: classified"

  @S-PROMISE @control
  Scenario: after notif: classified the next classified? returns the ad
    When an ad "Promised flat" is published
    Then within 1 s client A receives "notif: classified"
    When client A sends "stop_notif"
    Then client A receives "OK"
    When client A sends "classified?"
    Then client A receives "Promised flat"

  @S-NO-DUP @control
  Scenario: a random number already fetched is not announced again
    When a random number is published
    Then within 1 s client A receives "notif: random"
    When client A sends "stop_notif"
    Then client A receives "OK"
    When client A sends "random?"
    Then client A receives an integer
    When client A sends "_notif_"
    Then client A receives "will send notifs"
    And client A receives nothing for 100 ms
