SELECT iopnet_confine_to_site('care_episodes');
