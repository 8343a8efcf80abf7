# Every package of the branchgw external tree.
include $(sort $(wildcard $(BR2_EXTERNAL_BRANCHGW_PATH)/package/*/*.mk))
