"""opsbot's actions, one per module; `actions/registry.py` lists the built-in ones.

| action | module |
| --- | --- |
| rollback_deployment | k8s_rollback |
| scale_deployment | k8s_scale |
| restart_deployment | k8s_restart |
| wait_for_rollout | k8s_wait |
| canary_traffic, promote_canary | kserve_canary |
| abort_rollout, promote_rollout | argo_rollouts |
| undo_rollout | argo_undo |
| rerun_pipeline | rerun_pipeline |
| check_metric | check_metric |
| pagerduty_ack, pagerduty_resolve, pagerduty_note | pagerduty_actions |
| page_service | pagerduty_page |
| request_responders | pagerduty_responders |
| post_message | post_message |
| submit_ray_job, stop_ray_job | ray_job_actions |
| silence_alerts, expire_silence | alertmanager_silence |
| declare_incident, set_severity, set_lead, post_status_update | incident_moves |
| complete_follow_up | follow_ups |
"""
