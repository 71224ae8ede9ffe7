Feature: Requests and replies
  A client asks for the newest random number with "random?" and for the oldest unread
  classified ad with "classified?". Each request gets exactly one reply line, in the order
  the requests were sent, ended by the dialect's line ending.

  Background:
    Given a server
    And client A is connected

  @S-RANDOM-INT @S-REPLY-ONE
  Scenario: random? is answered by one decimal integer
    When client A sends "random?"
    Then client A receives an integer
    And client A receives nothing for 100 ms

  @S-CLASSIFIED-LINE @S-REPLY-ONE
  Scenario: classified? with no unread ad is answered by an empty line
    Given client A has read everything
    When client A sends "classified?"
    Then client A receives an empty line
    And client A receives nothing for 100 ms

  @S-CLASSIFIED-LINE @control
  Scenario: a published ad is read once, oldest first
    Given client A has read everything
    When an ad "Nice flat in the 11th" is published
    And an ad "Bright studio near the canal" is published
    And client A sends "classified?"
    Then client A receives "Nice flat in the 11th"
    When client A sends "classified?"
    Then client A receives "Bright studio near the canal"
    When client A sends "classified?"
    Then client A receives an empty line

  @S-RANDOM-INT @control
  Scenario: random? returns the number just published
    When the random number 89765234756 is published
    And client A sends "random?"
    Then client A receives "89765234756"

  @S-REPLY-ONE
  Scenario: requests sent together are answered in order
    Given client A has read everything
    When client A sends "random?" and "classified?" at once
    Then client A receives an integer
    And client A receives an empty line

  @S-FRAMING
  Scenario: a request ended by a bare LF is understood
    When client A sends "random?" ended by LF
    Then client A receives an integer

  @S-FRAMING
  Scenario: a request ended by CRLF is understood
    When client A sends "random?" ended by CRLF
    Then client A receives an integer
