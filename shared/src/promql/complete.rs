//! Completion for the query editor: what may come next at the cursor.
