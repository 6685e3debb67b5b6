"""opsbot's actions. Importing this package registers every built-in action (see registry.py).

| action | module |
| --- | --- |
| rollback_deployment | k8s_rollback |
| scale_deployment | k8s_scale |
| restart_deployment | k8s_restart |
| wait_for_rollout | k8s_wait |
| rerun_pipeline | rerun_pipeline |
| check_metric | check_metric |
| pagerduty_ack, pagerduty_resolve, pagerduty_note | pagerduty_actions |
| post_message | post_message |
| submit_ray_job, stop_ray_job | ray_job_actions |
"""

from actions import (  # noqa: F401  (each module registers its actions on import)
    check_metric,
    k8s_restart,
    k8s_rollback,
    k8s_scale,
    k8s_wait,
    pagerduty_actions,
    post_message,
    ray_job_actions,
    rerun_pipeline,
)
