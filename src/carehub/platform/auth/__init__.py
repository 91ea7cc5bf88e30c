"""Sign-in, users, API tokens and the Actor every service call carries."""
