/** I3 mutation fuzzing of PEM PKCS#7 certificate bags. */
import { registerFuzzCampaign } from '../../../_helpers/fuzz';

registerFuzzCampaign('pkcs7-pem', (fx) => [
  { label: 'rsa p7b PEM', path: fx.rsa.p7bPem },
  { label: 'ec p7b PEM', path: fx.ec.p7bPem },
]);
