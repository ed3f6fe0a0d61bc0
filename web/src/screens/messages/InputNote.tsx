/** What is wrong with the person's input, found before anything is sent (no API call was made). */
export function InputNote({ text }: { text: string }) {
  if (!text) return null;
  return (
    <p className="sp-problem" role="alert">
      {text}
    </p>
  );
}
