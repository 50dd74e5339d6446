"""paying: payment intents, captures, refunds and voids of the orders' payments."""
