"""The GitHub Action front end: reads the runner's contract, routes the event, writes outputs."""
