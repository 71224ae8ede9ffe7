Feature: Recorded transcripts
  The transcripts in transcripts/ are conversations written from the spec. Every conforming
  one must replay against the server under test (placeholders such as {int} match any
  value), and every negative one in transcripts/violations/ must still be flagged by the
  checker with exactly the rules its front matter expects: no missed, no invented violation.

  Scenario Outline: <conforming> replays against the server
    Given a server
    Then the transcript "<conforming>" replays against the server

    Examples:
      | conforming         |
      | transcripts/**.txt |

  @offline
  Scenario Outline: <negative> is flagged with exactly its expected rules
    Then the checker flags "<negative>" with exactly its expected rules

    Examples:
      | negative           |
      | transcripts/**.txt |
