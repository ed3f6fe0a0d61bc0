// The portal inbox's script (served at /portal/assets/inbox.js). Filled in with the messaging
// client; until then it only signs the patient in.
import * as sdk from '/portal/assets/sealpost-sdk.js';

window.sealpostSdkLoaded = Object.keys(sdk).length > 0;
