Feature: Requests and replies
  A client asks for a random number with "random?" and for an unread classified ad with
  "classified?". Each request gets exactly one reply line, in the order the requests were
  sent, ended by the dialect's line ending. Where the seed leaves the answer open (which
  unread ad comes first, what answers "classified?" with nothing unread, whether "random?"
  returns the published number or draws a new one) every legal answer passes
  (docs/protocol.md, section 8.1).

  Background:
    Given a server
    And client A is connected

  @S-RANDOM-INT @S-REPLY-ONE
  Scenario: random? is answered by one decimal integer
    When client A sends "random?"
    Then client A receives an integer
    And client A receives nothing for 100 ms

  @S-CLASSIFIED-LINE @S-REPLY-ONE
  Scenario: classified? with no unread ad is answered by one line, empty or an ad already read
    Given client A has read everything
    When client A sends "classified?"
    Then client A receives an empty line or an ad it has read
    And client A receives nothing for 100 ms

  @S-CLASSIFIED-LINE @control
  Scenario: each published ad is read once, oldest or newest first
    Given client A has read everything
    When an ad "Nice flat in the 11th" is published
    And an ad "Bright studio near the canal" is published
    Then client A reads "Nice flat in the 11th" and "Bright studio near the canal", in either order
    When client A sends "classified?"
    Then client A receives an empty line or an ad it has read

  @S-RANDOM-INT @control
  Scenario: random? after a publish is answered by one integer
    When the random number 89765234756 is published
    And client A sends "random?"
    Then client A receives an integer
    And client A receives nothing for 100 ms

  @S-REPLY-ONE
  Scenario: requests sent together are answered in order
    Given client A has read everything
    When client A sends "random?" and "classified?" at once
    Then client A receives an integer
    And client A receives an empty line or an ad it has read

  @S-FRAMING
  Scenario: a request ended by a bare LF is understood
    When client A sends "random?" ended by LF
    Then client A receives an integer

  @S-FRAMING
  Scenario: a request ended by CRLF is understood
    When client A sends "random?" ended by CRLF
    Then client A receives an integer
