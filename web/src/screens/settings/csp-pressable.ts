/**
 * react-aria's buttons add a `<style id="react-aria-pressable-style">` to the page on first use,
 * which the console's policy (style-src 'self') refuses and reports. It skips that when an element
 * with this id is already there, so one is put in place before any button renders; its one rule
 * (touch-action on pressable elements) is in this screen's CSS. Belongs in the shell; harmless once it is.
 */
const ID = 'react-aria-pressable-style';
if (typeof document !== 'undefined' && !document.getElementById(ID)) {
  const marker = document.createElement('meta');
  marker.id = ID;
  document.head.prepend(marker);
}
export {};
