-- How each of $1 takes friend requests (Tag_Profile_IM_AllowType, Tencent's
-- default AllowType_Type_NeedConfirm when unset) and whether the
-- administrator forbade them to send any (AdminForbid_Type_SendOut).
SELECT user_id,
       COALESCE(fields->>'Tag_Profile_IM_AllowType', 'AllowType_Type_NeedConfirm'),
       COALESCE(fields->>'Tag_Profile_IM_AdminForbidType', '') = 'AdminForbid_Type_SendOut'
FROM profiles WHERE user_id = ANY($1)
