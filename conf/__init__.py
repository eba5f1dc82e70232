# The configs are the package elmo_tasks.conf (through the link elmo_tasks/conf -> ../conf),
# so that an installed package finds them with Hydra's pkg://elmo_tasks.conf search path.
