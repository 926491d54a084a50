/** I3 mutation fuzzing of Java KeyStores (jks-js behind a bounds-checked layout walk); half the inputs are resealed. */
import { PASSWORDS } from '../../../_helpers/fixtures';
import { registerFuzzCampaign } from '../../../_helpers/fuzz';

const options = { password: PASSWORDS.jksStore, keyPassword: PASSWORDS.jksKey };
registerFuzzCampaign('jks', (fx) => [
  { label: 'rsa jks', path: fx.rsa.jks, options, reseal: 'jks' },
  { label: 'ec jks', path: fx.ec.jks, options, reseal: 'jks' },
]);
