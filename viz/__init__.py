"""Front end and static plots (the Solara app arrives with the front-end step)."""
