//! AWS Security Token Service.

use palisade_model::sts::GetCallerIdentityResponse;

use crate::identity::Caller;

/// `GetCallerIdentity`: who signed the request. AWS allows it whatever the policies say.
pub fn get_caller_identity(caller: &Caller) -> GetCallerIdentityResponse {
    GetCallerIdentityResponse {
        user_id: Some(caller.principal_id.clone()),
        account: Some(caller.account_id.clone()),
        arn: Some(caller.arn.clone()),
    }
}
