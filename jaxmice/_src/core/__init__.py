"""The data model and what the user asks of it: the schema (columns, kinds, cluster indexes),
input checks, R's expressions (one parser, one evaluator), then the specification with its
defaults, passive columns, the design and the plan the engine runs."""
