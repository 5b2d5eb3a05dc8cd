"""The GitHub Action front end: reads the runner's contract, decides the event's route, writes outputs."""
